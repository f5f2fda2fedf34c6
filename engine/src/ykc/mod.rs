//! YKC v1.5/v1.6 codec (placeholder until the codec lands).

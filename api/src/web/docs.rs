//! `/docs`: the API reference, rendered here from `/openapi.json` (the
//! same document), so it needs no script and nothing from another host.

use std::sync::OnceLock;

use maud::{html, Markup};
use serde_json::Value;

use super::{render, Page, Site};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The page for `document` (the OpenAPI document as JSON), built once:
/// the document is fixed for the life of the process.
pub fn page(document: &str) -> actix_web::HttpResponse {
    static BODY: OnceLock<(Markup, Markup)> = OnceLock::new();
    let (nav, main) = BODY.get_or_init(|| {
        let doc: Value = serde_json::from_str(document).unwrap_or_default();
        (nav(&doc), reference(&doc))
    });
    render(
        Page { site: Site::Docs, page: "docs", title: "API reference", id: None },
        nav.clone(),
        main.clone(),
    )
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// An operation: its method, its path and its object in the document.
type Op<'a> = (String, String, &'a Value);

/// A tag: its name, what it is about and its operations.
type Tag<'a> = (String, String, Vec<Op<'a>>);

/// The tags, in the document's order, each with its operations.
fn by_tag(doc: &Value) -> Vec<Tag<'_>> {
    let mut tags: Vec<Tag> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (str_of(t, "name").to_owned(), str_of(t, "description").to_owned(), Vec::new()))
        .collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let op = &item[*method];
            let tag = op["tags"].get(0).and_then(Value::as_str).unwrap_or("other");
            let at = match tags.iter().position(|t| t.0 == tag) {
                Some(i) => i,
                None => {
                    tags.push((tag.to_owned(), String::new(), Vec::new()));
                    tags.len() - 1
                }
            };
            tags[at].2.push((method.to_uppercase(), path.clone(), op));
        }
    }
    tags.retain(|t| !t.2.is_empty());
    tags
}

fn nav(doc: &Value) -> Markup {
    html! {
        header.top {
            a.brand href="/docs" { "chargeplane API" }
            nav {
                @for (tag, _, _) in by_tag(doc) { a href={ "#tag-" (tag) } { (tag) } }
                a href="#schemas" { "schemas" }
                a href="openapi.json" { "openapi.json" }
            }
        }
    }
}

/// A schema as a short type name: its `$ref`'s last part, or its type.
fn type_name(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(all) = s.get(key).and_then(Value::as_array) {
            return all.iter().map(type_name).collect::<Vec<_>>().join(" | ");
        }
    }
    match s.get("type") {
        Some(Value::String(t)) if t == "array" => format!("[{}]", type_name(&s["items"])),
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => "any".into(),
    }
}

/// Markdown-ish text from the document, as plain escaped text with `code`.
fn text(s: &str) -> Markup {
    html! {
        @for (i, part) in s.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

fn reference(doc: &Value) -> Markup {
    let info = &doc["info"];
    html! {
        h1 { (str_of(info, "title")) " " small.muted { (str_of(info, "version")) } }
        p { (text(str_of(info, "description"))) }
        p.muted { "Generated from " a href="openapi.json" { "openapi.json" } ", the OpenAPI 3.1 document this server describes itself with." }
        @for (tag, about, ops) in by_tag(doc) {
            section.tag id={ "tag-" (tag) } {
                h2 { (tag) }
                @if !about.is_empty() { p.muted { (text(&about)) } }
                @for (method, path, op) in ops { (operation(&method, &path, op)) }
            }
        }
        section #schemas {
            h2 { "Schemas" }
            @for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
                (schema_block(name, schema))
            }
        }
    }
}

fn operation(method: &str, path: &str, op: &Value) -> Markup {
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let body = op["requestBody"]["content"].as_object().and_then(|c| c.iter().next());
    html! {
        details.op id=(str_of(op, "operationId")) {
            summary {
                span class={ "method " (method.to_lowercase()) } { (method) }
                code.path { (path) }
                span.summary { (text(str_of(op, "summary"))) }
                @if op.get("security").is_some() { span.badge { "token" } }
            }
            @if !str_of(op, "description").is_empty() { p { (text(str_of(op, "description"))) } }
            @if !params.is_empty() {
                table {
                    thead { tr { th { "Parameter" } th { "In" } th { "Type" } th { "About" } } }
                    tbody {
                        @for p in &params {
                            tr {
                                td { code { (str_of(p, "name")) } @if p["required"] == true { " *" } }
                                td { (str_of(p, "in")) }
                                td { (type_name(&p["schema"])) }
                                td { (text(str_of(p, "description"))) }
                            }
                        }
                    }
                }
            }
            @if let Some((kind, content)) = body {
                p { "Body (" (kind) "): " code { (type_name(&content["schema"])) } }
            }
            ul.responses {
                @for (status, r) in op["responses"].as_object().into_iter().flatten() {
                    li {
                        strong { (status) } " "
                        @if let Some(r) = r.get("$ref").and_then(Value::as_str) {
                            "the error body (" code { (r.rsplit('/').next().unwrap_or(r)) } ")"
                        } @else {
                            (text(str_of(r, "description")))
                        }
                    }
                }
            }
        }
    }
}

fn schema_block(name: &str, schema: &Value) -> Markup {
    let required: Vec<&str> =
        schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    html! {
        details.op id={ "schema-" (name) } {
            summary { code.path { (name) } span.summary { (type_name(schema)) } }
            @if !str_of(schema, "description").is_empty() { p { (text(str_of(schema, "description"))) } }
            @if let Some(props) = schema["properties"].as_object() {
                table {
                    tbody {
                        @for (field, s) in props {
                            tr {
                                td { code { (field) } @if required.contains(&field.as_str()) { " *" } }
                                td { (type_name(s)) }
                                td { (text(str_of(s, "description"))) }
                            }
                        }
                    }
                }
            }
            @if let Some(values) = schema["enum"].as_array() {
                p { "One of: " @for v in values { code { (v.as_str().unwrap_or_default()) } " " } }
            }
        }
    }
}

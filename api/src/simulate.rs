//! `chargeplane simulate-pile`: one simulated pile over real TCP to a
//! running platform, so a newcomer can try a charge with no hardware (the
//! README's walkthrough connects one this way). It is the `sim` crate's
//! pile: it logs in, heartbeats, answers starts and stops, meters at a
//! steady power and sends its final record, until the process is stopped.

use std::net::SocketAddr;
use std::time::Duration;

use rust_decimal::Decimal;
use sim::ebike_pile::{EbikeConfig, EbikePile, Profile};
use sim::ykc_pile::{PileConfig, SimPile};
use vocab::PileId;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Protocol {
    /// A YKC car pile; `--id` is its 14-digit number.
    Ykc,
    /// An AP3000 e-bike pile; `--id` is its physical id, 8 hex digits.
    Dny,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The platform's pile listener.
    #[arg(long, env = "CHARGEPLANE_PILE_ADDR", default_value = "127.0.0.1:8767")]
    pub piles: SocketAddr,
    #[arg(long, value_enum, default_value_t = Protocol::Ykc)]
    pub protocol: Protocol,
    /// The pile's id, as registered on the platform.
    #[arg(long)]
    pub id: String,
    /// Guns (YKC) or sockets (e-bike).
    #[arg(long, default_value_t = 2)]
    pub ports: u8,
    /// What each charging port draws, W.
    #[arg(long, default_value_t = 7000)]
    pub power_w: u32,
}

/// The connected pile; dropping it hangs up.
pub enum Pile {
    Car(SimPile),
    Bike(EbikePile),
}

/// Connects the pile, every port with a vehicle plugged in.
pub async fn connect(args: &Args) -> Result<Pile, String> {
    let power = Decimal::from(args.power_w);
    let refused = |e: std::io::Error| format!("cannot reach the platform's piles at {}: {e}", args.piles);
    match args.protocol {
        Protocol::Ykc => {
            let mut cfg = PileConfig::new(PileId(args.id.clone()), args.ports);
            cfg.auto_meter = Some(power / Decimal::from(1000));
            cfg.realtime = Duration::from_secs(5);
            Ok(Pile::Car(SimPile::connect(args.piles, cfg).await.map_err(refused)?))
        }
        Protocol::Dny => {
            let phys = u32::from_str_radix(&args.id, 16)
                .map_err(|_| format!("an e-bike pile's id is 8 hex digits, not {:?}", args.id))?;
            let mut cfg = EbikeConfig::new(phys);
            cfg.ports = args.ports;
            let bike = EbikePile::connect(args.piles, cfg).await.map_err(refused)?;
            for port in 1..=args.ports {
                bike.set_profile(port, Profile::Constant(power));
                bike.plug(port, true);
            }
            Ok(Pile::Bike(bike))
        }
    }
}

impl Pile {
    /// Waits for the next thing worth telling: a login, a charge started,
    /// stopped or billed. `Err` when the platform refused or hung up.
    pub async fn next(&mut self) -> Result<String, String> {
        use sim::ebike_pile::Event as B;
        use sim::ykc_pile::Event as C;
        loop {
            let told = match self {
                Pile::Car(p) => match p.next_event().await {
                    Some(C::LoginAccepted) => "logged in".to_owned(),
                    Some(C::LoginRefused) => return Err("login refused: is the pile registered?".into()),
                    Some(C::StartRequested { gun, serial, accepted }) => {
                        format!("gun {gun}: start {serial} {}", if accepted { "accepted" } else { "refused" })
                    }
                    Some(C::StopRequested { gun }) => format!("gun {gun}: stop"),
                    Some(C::RecordAcked { serial, .. }) => format!("charge {serial} billed"),
                    Some(C::Closed) | None => return Err("the platform hung up".into()),
                    Some(_) => continue,
                },
                Pile::Bike(p) => match p.next_event().await {
                    Some(B::Registered { accepted: true }) => "logged in".to_owned(),
                    Some(B::Registered { accepted: false }) => {
                        return Err("login refused: is the pile registered?".into())
                    }
                    Some(B::Started { port, order, accepted }) => {
                        format!(
                            "port {port}: start {order} {}",
                            if accepted { "accepted" } else { "refused" }
                        )
                    }
                    Some(B::Stopped { port, order, .. }) => format!("port {port}: charge {order} ended"),
                    Some(B::SettlementAcked { order, .. }) => format!("charge {order} billed"),
                    Some(B::Closed) | None => return Err("the platform hung up".into()),
                    Some(_) => continue,
                },
            };
            return Ok(told);
        }
    }
}

//! `moat-mta`: the SMTP gateway node. Not built yet: the MTA core issue fills this crate.

fn main() {
    eprintln!("moat-mta: the MTA worker is not implemented yet");
    std::process::exit(2);
}

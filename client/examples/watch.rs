//! Watches one host's sets through a [`client::LiveView`] and prints every
//! change: `cargo run -p client --example watch -- http://127.0.0.1:5988 [SECONDS]`.

use client::{Client, IiHost, LiveOptions, LiveView};
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| client::DEFAULT_URL.to_owned());
    let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(30);
    let host = IiHost::new(Client::connect(&url)?);
    let opts = LiveOptions {
        health_interval: Duration::from_secs(1),
        ..Default::default()
    };
    let view = LiveView::start(host, opts).await?;
    println!(
        "listening at {}; {} sets",
        view.destination(),
        view.sets().len()
    );
    let mut events = view.events();
    let deadline = tokio::time::sleep(Duration::from_secs(secs));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            e = events.recv() => match e {
                Ok(e) => println!("{e:?}"),
                Err(e) => { println!("event stream: {e}"); break }
            },
        }
    }
    println!(
        "sets now: {:?}",
        view.sets()
            .iter()
            .map(|s| (&s.shadow, &s.state))
            .collect::<Vec<_>>()
    );
    view.close().await?;
    Ok(())
}

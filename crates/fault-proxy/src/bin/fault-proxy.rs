//! `fault-proxy LISTEN UPSTREAM`: one proxy from the command line, for trying a fault by
//! hand. Each line on standard input is a command; times are in milliseconds, `up` and
//! `down` are directions (toward the server, toward the client):
//!
//! ```text
//! latency up|down MS [JITTER_MS]    bandwidth up|down BYTES_PER_SECOND
//! slow-close MS                     blackhole [CLOSE_AFTER_MS]
//! reset-peer MS                     down
//! upstream HOST:PORT                clear
//! show
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use fault_proxy::{Direction, Fault, FaultProxy};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(listen), Some(upstream), None) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: fault-proxy LISTEN_ADDR UPSTREAM_ADDR (commands on standard input)");
        return ExitCode::from(2);
    };
    let (Ok(listen), Ok(upstream)) = (resolve(listen), resolve(upstream)) else {
        eprintln!("fault-proxy: cannot resolve the listen or upstream address");
        return ExitCode::from(2);
    };
    let proxy = match FaultProxy::bind(listen, upstream).await {
        Ok(proxy) => proxy,
        Err(err) => {
            eprintln!("fault-proxy: cannot listen on {listen}: {err}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("fault-proxy: {} -> {upstream}", proxy.local_addr());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match command(&proxy, &line) {
            Ok(()) => eprintln!("fault-proxy: faults now {:?}", proxy.faults()),
            Err(err) => eprintln!("fault-proxy: {err}"),
        }
    }
    ExitCode::SUCCESS
}

fn resolve(addr: &str) -> std::io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::ErrorKind::NotFound.into())
}

/// Runs one command line against the proxy.
fn command(proxy: &FaultProxy, line: &str) -> Result<(), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let millis = |index: usize| -> Result<Duration, String> {
        let word = words.get(index).ok_or("missing a number of milliseconds")?;
        word.parse()
            .map(Duration::from_millis)
            .map_err(|_| format!("{word:?} is not a number of milliseconds"))
    };
    let direction = || match words.get(1) {
        Some(&"up") => Ok(Direction::Upstream),
        Some(&"down") => Ok(Direction::Downstream),
        _ => Err("the direction is `up` or `down`".to_owned()),
    };
    let fault = match words.as_slice() {
        [] | ["show"] => return Ok(()),
        ["clear"] => {
            proxy.clear();
            return Ok(());
        }
        ["upstream", addr] => {
            let addr = resolve(addr).map_err(|err| format!("upstream {addr}: {err}"))?;
            proxy.set_upstream(addr);
            return Ok(());
        }
        ["latency", _, _] | ["latency", _, _, _] => Fault::Latency {
            direction: direction()?,
            delay: millis(2)?,
            jitter: if words.len() == 4 {
                millis(3)?
            } else {
                Duration::ZERO
            },
        },
        ["bandwidth", _, rate] => Fault::Bandwidth {
            direction: direction()?,
            bytes_per_second: rate
                .parse()
                .map_err(|_| format!("{rate:?} is not a number of bytes per second"))?,
        },
        ["slow-close", _] => Fault::SlowClose { delay: millis(1)? },
        ["blackhole"] => Fault::Blackhole { close_after: None },
        ["blackhole", _] => Fault::Blackhole {
            close_after: Some(millis(1)?),
        },
        ["reset-peer", _] => Fault::ResetPeer { after: millis(1)? },
        ["down"] => Fault::Down,
        _ => return Err(format!("unknown command {line:?}")),
    };
    proxy.set_fault(fault);
    Ok(())
}

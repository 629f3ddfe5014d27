//! Several schedulers on one PostgreSQL: one leads, the others stand by.
//!
//! A scheduler starts as a standby (`standby.rs`: its ports answer `UNAVAILABLE` naming the
//! leader) and looks at the lease a few times a second. When the lease has run out (the
//! leader died or handed it over) it takes it with a new term, stops answering, and starts
//! the whole scheduler on the same ports (`server::lead`): recovery from the store, as after any
//! restart, with every write fenced on the term.
//!
//! The leader renews every `renew_ms`; it stops serving before the lease can have run out
//! (`core/lease.rs`), when a renewal finds the term taken, or when a write fails on the term.
//! Stopping is crash-only: [`run`] answers [`Ended::Deposed`] and `main` starts the process
//! again from the top, as a standby (nothing of the old leadership survives in memory). A
//! clean shutdown releases the lease, so a standby takes over at its next look. The ports are
//! bound once (`listeners.rs`) and stay bound through every change of role.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::core::lease::LeaseTimer;
use crate::live::leadership::Leadership;
use crate::store::{Store, StoreError};
use crate::wiring::listeners::Listeners;
use crate::wiring::server::{ServeError, ServeOptions};
use crate::wiring::standby::{Hint, Standby};

/// How often a standby looks at the lease (at most; less when renewals are more often).
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// How a scheduler on a shared database ended.
#[derive(Debug)]
pub enum Ended {
    /// Shut down when asked (as a leader, the lease handed over).
    Stopped,
    /// It must serve no more: another leads, or its lease or its store failed. The caller
    /// starts the process again as a standby, handing it the listening sockets.
    Deposed { why: String, listeners: Listeners },
}

/// Where the ports are once bound (printed by `main` for scripts and tests).
pub type Announce = Box<dyn FnOnce(SocketAddr, Option<SocketAddr>) + Send>;

/// Stands by until the lease is free, then leads until shut down or deposed.
pub async fn run(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    announce: Announce,
) -> Result<Ended, ServeError> {
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    // The ports first: a standby answers (naming no leader) even while the database is down.
    let listeners = Listeners::open(opts.addresses())?;
    let store = open_waiting(&opts.database_url, stop.clone()).await?;
    let Some(store) = store else {
        return Ok(Ended::Stopped);
    };
    let holder = format!(
        "{}/{}/{:08x}",
        host_name(),
        std::process::id(),
        rand::random::<u32>()
    );
    let leadership = Leadership::default();
    let (hint_tx, hint) = watch::channel(Hint::default());
    let standby = Standby::start(&opts, &listeners, hint, leadership.clone()).await?;
    announce(standby.addr, standby.http_addr);
    let secure = opts.tls.is_some();
    let address = opts
        .advertise
        .clone()
        .unwrap_or_else(|| advertised(standby.addr, secure));
    let http_address = opts.advertise_http.clone().unwrap_or_else(|| {
        standby
            .http_addr
            .map(|a| advertised(a, secure))
            .unwrap_or_default()
    });
    tracing::info!(%holder, %address, "standing by: another scheduler leads until its lease runs out");

    let clock = Instant::now();
    let ms = move || clock.elapsed().as_millis() as u64;
    let look = LOOK_EVERY.min(Duration::from_millis(opts.lease.renew_ms));
    let mut stopping = stop.clone();
    let (term, began) = loop {
        let began = ms();
        match store.lease().await {
            Ok(lease) => {
                leadership.saw_term(lease.term);
                hint_tx.send_if_modified(|h| {
                    let new = Hint::from_lease(&lease);
                    let changed = *h != new;
                    *h = new;
                    changed
                });
                if lease.remaining_ms <= 0 {
                    match store
                        .take_lease(&holder, &address, &http_address, opts.lease.lease_ms)
                        .await
                    {
                        Ok(Some(term)) => break (term, began),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "could not take the lease"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the lease; the database may be down"),
        }
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => {
                standby.stop().await;
                return Ok(Ended::Stopped);
            }
            _ = tokio::time::sleep(look) => {}
        }
    };
    let mut timer = LeaseTimer::taken(opts.lease, began);
    tracing::info!(term, "took the lease: leading");
    standby.stop().await;
    let mut server_stop = stop.clone();
    let running =
        crate::wiring::server::lead(opts.clone(), &listeners, term, leadership, async move {
            let _ = server_stop.wait_for(|s| *s).await;
        })
        .await;
    let mut running = match running {
        Ok(r) => r,
        Err(e) => {
            let _ = store.release_lease(term, &holder).await;
            return Err(e);
        }
    };
    tracing::info!(term, addr = %running.addr, "leading");
    let at = |t: u64| clock + Duration::from_millis(t);
    let deposed = |why: String| Ended::Deposed { why, listeners };
    let mut retry_at: Option<u64> = None;
    loop {
        let renew_at = retry_at.unwrap_or_else(|| timer.next_renewal());
        tokio::select! {
            ended = &mut running.task => {
                return match ended {
                    Ok(Ok(())) => {
                        // Shut down when asked: hand over at once.
                        if let Err(e) = store.release_lease(term, &holder).await {
                            tracing::warn!(error = %e, "could not release the lease; a standby takes over when it runs out");
                        } else {
                            tracing::info!(term, "lease released");
                        }
                        Ok(Ended::Stopped)
                    }
                    Ok(Err(ServeError::Store(StoreError::Deposed { term, now }))) => Ok(deposed(
                        format!("a write found the term {now} (this scheduler led in {term})"),
                    )),
                    Ok(Err(e)) => {
                        // Crash-only: a failing store stops the leader; it starts again as a
                        // standby, and whoever takes the lease recovers from the store.
                        let _ = store.release_lease(term, &holder).await;
                        Ok(deposed(format!("the server stopped: {e}")))
                    }
                    Err(join) => Ok(deposed(format!("the server task failed: {join}"))),
                };
            }
            _ = tokio::time::sleep_until(at(timer.stop_at())) => {
                return Ok(deposed("the lease ran out before a renewal landed".into()));
            }
            _ = tokio::time::sleep_until(at(renew_at)) => {
                let began = ms();
                let left = timer.stop_at().saturating_sub(began).max(1);
                let renewal = tokio::time::timeout(
                    Duration::from_millis(left),
                    store.renew_lease(term, &holder, opts.lease.lease_ms),
                )
                .await;
                match renewal {
                    Ok(Ok(true)) => {
                        timer.renewed(began);
                        retry_at = None;
                    }
                    Ok(Ok(false)) => {
                        return Ok(deposed("another scheduler took the lease".into()));
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "could not renew the lease; trying again");
                        retry_at = Some(ms() + (opts.lease.renew_ms / 4).max(50));
                    }
                    Err(_) => {
                        tracing::warn!("the lease's renewal did not answer in time");
                        retry_at = Some(ms());
                    }
                }
            }
        }
    }
}

/// The store, once the database answers (a scheduler started while PostgreSQL restarts
/// waits for it); `None` if asked to stop first.
async fn open_waiting(
    url: &str,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<Store>, ServeError> {
    let mut pause = Duration::from_millis(200);
    loop {
        match Store::open(url).await {
            Ok(store) => return Ok(Some(store)),
            Err(e @ (StoreError::Db(_) | StoreError::Busy(_))) => {
                tracing::warn!(error = %e, "the database does not answer; waiting for it");
            }
            Err(e) => return Err(e.into()),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(None),
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// The URL clients would dial for `addr`: its address, or this host's name for a wildcard.
fn advertised(addr: SocketAddr, secure: bool) -> String {
    let scheme = if secure { "https" } else { "http" };
    if addr.ip().is_unspecified() {
        format!("{scheme}://{}:{}", host_name(), addr.port())
    } else {
        format!("{scheme}://{addr}")
    }
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

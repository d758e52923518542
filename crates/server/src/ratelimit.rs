//! Rate limits of the endpoints anyone can call (token endpoint, passkey
//! sign-in, admin-center login), with the `governor` crate's GCRA limiter
//! keyed by source address, by client id at the token endpoint (one app's
//! secret cannot be brute-forced from many addresses), and by user at
//! sign-in (one user's passkey cannot be hammered from many addresses). A
//! request over a limit is answered 429 with `Retry-After`, in Graph's
//! envelope. `/metrics` shows the limits and how often each refused.
//!
//! Limits are per server process (several instances multiply them).

use crate::config::RateLimits;
use crate::error::{ApiError, ApiResult};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// What is being limited.
#[derive(Debug, Clone, Copy)]
pub enum Limited {
    /// The token endpoint.
    Token,
    /// Passkey sign-in.
    SignIn,
    /// Admin-center login.
    AdminLogin,
}

/// The server's limiters.
pub struct Limiters {
    enabled: bool,
    config: RateLimits,
    token_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    token_by_client: DefaultKeyedRateLimiter<String>,
    signin_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    signin_by_user: DefaultKeyedRateLimiter<String>,
    admin_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Requests refused, by limit (in the order of [`LIMIT_NAMES`]).
    refused: [AtomicU64; 5],
}

/// The limits' names in `/metrics`.
const LIMIT_NAMES: [&str; 5] = [
    "token_per_address",
    "token_per_client",
    "signin_per_address",
    "signin_per_user",
    "admin_login_per_address",
];

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
    let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl Limiters {
    /// Limiters for `c`.
    pub fn new(c: &RateLimits) -> Limiters {
        Limiters {
            enabled: c.enabled,
            token_by_ip: RateLimiter::keyed(quota(c.token_per_minute, c.token_burst)),
            token_by_client: RateLimiter::keyed(quota(
                c.token_per_client_per_minute,
                c.token_per_client_burst,
            )),
            signin_by_ip: RateLimiter::keyed(quota(c.signin_per_minute, c.signin_burst)),
            signin_by_user: RateLimiter::keyed(quota(
                c.signin_per_user_per_minute,
                c.signin_per_user_burst,
            )),
            admin_by_ip: RateLimiter::keyed(quota(c.admin_login_per_minute, c.admin_login_burst)),
            config: c.clone(),
            refused: Default::default(),
        }
    }

    fn check_one<K: std::hash::Hash + Eq + Clone>(
        &self,
        which: usize,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> ApiResult<()> {
        limiter.check_key(key).map_err(|not_until| {
            self.refused[which].fetch_add(1, Ordering::Relaxed);
            ApiError::too_many_requests(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Counts a sign-in attempt for one user (`tenant id/user id`, or
    /// `tenant id/upn` at a username-first begin, known or not); 429 when
    /// over the per-user limit.
    pub fn check_user(&self, key: &str) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        // Bounded key length: a UPN is at most 113 characters.
        let key: String = key.chars().take(200).collect::<String>().to_lowercase();
        self.check_one(3, &self.signin_by_user, &key)
    }

    /// Each limit as `/metrics` shows it.
    pub fn snapshot(&self) -> Vec<crate::metrics::LimitSnapshot> {
        let c = &self.config;
        let limits = [
            (c.token_per_minute, c.token_burst),
            (c.token_per_client_per_minute, c.token_per_client_burst),
            (c.signin_per_minute, c.signin_burst),
            (c.signin_per_user_per_minute, c.signin_per_user_burst),
            (c.admin_login_per_minute, c.admin_login_burst),
        ];
        LIMIT_NAMES
            .iter()
            .zip(limits)
            .zip(&self.refused)
            .map(
                |((name, (per_minute, burst)), refused)| crate::metrics::LimitSnapshot {
                    name,
                    per_minute: if self.enabled { per_minute } else { 0 },
                    burst,
                    refused: refused.load(Ordering::Relaxed),
                },
            )
            .collect()
    }

    /// Counts a request of `what` from `ip` (and for `client_id`, at the
    /// token endpoint); 429 when over a limit.
    pub fn check(&self, what: Limited, ip: IpAddr, client_id: Option<&str>) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        match what {
            Limited::Token => {
                self.check_one(0, &self.token_by_ip, &ip)?;
                if let Some(c) = client_id.filter(|c| !c.is_empty()) {
                    // Bounded key: a client id is at most a UUID's length in
                    // practice; longer ones share one bucket.
                    let key: String = if c.len() <= 64 {
                        c.to_owned()
                    } else {
                        "(long)".into()
                    };
                    self.check_one(1, &self.token_by_client, &key)?;
                }
                Ok(())
            }
            Limited::SignIn => self.check_one(2, &self.signin_by_ip, &ip),
            Limited::AdminLogin => self.check_one(4, &self.admin_by_ip, &ip),
        }
    }

    /// Drops the state of keys that are back to a full burst (run now and
    /// then so the maps do not grow with every address ever seen).
    pub fn shrink(&self) {
        self.token_by_ip.retain_recent();
        self.token_by_client.retain_recent();
        self.signin_by_ip.retain_recent();
        self.signin_by_user.retain_recent();
        self.admin_by_ip.retain_recent();
        self.token_by_ip.shrink_to_fit();
        self.token_by_client.shrink_to_fit();
        self.signin_by_ip.shrink_to_fit();
        self.signin_by_user.shrink_to_fit();
        self.admin_by_ip.shrink_to_fit();
    }
}

/// The client's address as the server sees it: the TCP peer, or — when the
/// peer is a trusted reverse proxy — the last address in `X-Forwarded-For`
/// that is not itself a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client's address for `peer` and its headers (see the type).
    pub fn resolve(
        peer: IpAddr,
        headers: &axum::http::HeaderMap,
        trusted: &[IpAddr],
    ) -> ClientAddr {
        if !trusted.contains(&peer) {
            return ClientAddr(peer);
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        ClientAddr(
            forwarded
                .into_iter()
                .rev()
                .find(|a| !trusted.contains(a))
                .unwrap_or(peer),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_429_and_per_client() {
        let l = Limiters::new(&RateLimits {
            token_burst: 3,
            token_per_client_burst: 2,
            ..Default::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check(Limited::Token, ip, Some("a")).is_ok());
        assert!(l.check(Limited::Token, ip, Some("a")).is_ok());
        let e = l.check(Limited::Token, other, Some("a")).unwrap_err();
        assert_eq!(e.status.as_u16(), 429);
        assert!(e.retry_after.unwrap() >= 1);
        assert!(l.check(Limited::Token, ip, Some("b")).is_ok());
        assert!(
            l.check(Limited::Token, ip, Some("c")).is_err(),
            "ip burst of 3"
        );
        let off = Limiters::new(&RateLimits {
            enabled: false,
            token_burst: 1,
            ..Default::default()
        });
        for _ in 0..10 {
            assert!(off.check(Limited::Token, ip, Some("a")).is_ok());
        }
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.7, 10.0.0.1".parse().unwrap());
        assert_eq!(
            ClientAddr::resolve(proxy, &h, &[proxy]).0,
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(ClientAddr::resolve(stranger, &h, &[proxy]).0, stranger);
    }
}

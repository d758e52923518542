//! A session with one key: the channel, getInfo, the PIN/UV auth protocol
//! in use, keepalives, reset and selection (like `ykman fido` /
//! python-fido2's `Ctap2`). Each CTAP sub-API's verbs sit beside its codec
//! in [`crate::cmd`] — clientPIN in [`crate::cmd::client_pin`], credential
//! management in [`crate::cmd::cred_mgmt`], authenticatorConfig in
//! [`crate::cmd::config`], makeCredential and getAssertion in theirs — as
//! further `impl Ctap2Client` blocks.

use crate::cmd::get_info::{GetInfoRequest, GetInfoResponse};
use crate::cmd::simple::{ResetRequest, SelectionRequest};
use crate::cmd::{decode_response, CtapRequest};
use crate::error::{Error, Result};
use crate::hid::channel::{CancelHandle, HidChannel};
use crate::hid::{capability, HidCommand, KeepaliveStatus};
use crate::pin::PinUvAuthProtocol;
use crate::transport::Transport;
use std::time::Duration;

pub use crate::cmd::client_pin::{PinRetries, PinUvAuthToken};
pub use crate::cmd::cred_mgmt::StoredCredential;

type KeepaliveFn = Box<dyn FnMut(KeepaliveStatus) + Send>;

/// A CTAP2 session with one key.
pub struct Ctap2Client<T: Transport = Box<dyn Transport>> {
    channel: HidChannel<T>,
    info: GetInfoResponse,
    on_keepalive: KeepaliveFn,
    forced_protocol: Option<PinUvAuthProtocol>,
    time_in_key: Duration,
}

impl<T: Transport> std::fmt::Debug for Ctap2Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctap2Client")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Ctap2Client<T> {
    /// Allocates a channel and reads getInfo.
    pub fn open(transport: T) -> Result<Self> {
        let channel = HidChannel::open(transport)?;
        if channel.device().capabilities & capability::CBOR == 0 {
            return Err(Error::Unsupported(
                "CTAP2 (the key speaks only U2F/CTAP1)".into(),
            ));
        }
        let mut client = Self {
            channel,
            info: GetInfoResponse::default(),
            on_keepalive: Box::new(|_| {}),
            forced_protocol: None,
            time_in_key: Duration::ZERO,
        };
        client.refresh_info()?;
        Ok(client)
    }

    /// Calls `f` on every keepalive (e.g. to print "touch your key").
    pub fn set_keepalive_handler(&mut self, f: impl FnMut(KeepaliveStatus) + Send + 'static) {
        self.on_keepalive = Box::new(f);
    }

    /// How long to wait for any packet from the key (a keepalive counts) before giving up.
    pub fn set_idle_timeout(&mut self, timeout: Duration) {
        self.channel.set_idle_timeout(timeout);
    }

    /// A handle another thread can use to cancel the request in progress (a touch the user will not give).
    pub fn cancel_handle(&self) -> CancelHandle {
        self.channel.cancel_handle()
    }

    /// The last getInfo answer.
    pub fn info(&self) -> &GetInfoResponse {
        &self.info
    }

    /// Asks the key's getInfo again (after a change of PIN or configuration).
    pub fn refresh_info(&mut self) -> Result<&GetInfoResponse> {
        self.info = self.send(&GetInfoRequest)?;
        Ok(&self.info)
    }

    /// Where the key is ("udp:127.0.0.1:8111", "usb:/dev/hidraw3").
    pub fn describe(&self) -> String {
        self.channel.describe()
    }

    /// CTAPHID INIT's device version (major, minor, build).
    pub fn device_version(&self) -> (u8, u8, u8) {
        self.channel.device().version
    }

    /// Sends one typed request and decodes its typed response.
    pub fn send<R: CtapRequest>(&mut self, request: &R) -> Result<R::Response> {
        let started = std::time::Instant::now();
        let frame =
            self.channel
                .transact(HidCommand::Cbor, &request.encode(), &mut *self.on_keepalive);
        self.time_in_key += started.elapsed();
        decode_response(&frame?)
    }

    /// Total time spent waiting for the key's answers (transport included)
    /// since this session opened: lets callers separate their own overhead
    /// from the key's.
    pub fn time_in_key(&self) -> Duration {
        self.time_in_key
    }

    /// Makes the key blink.
    pub fn wink(&mut self) -> Result<()> {
        if self.channel.device().capabilities & capability::WINK == 0 {
            return Err(Error::Unsupported("wink".into()));
        }
        self.channel.wink()
    }

    // ----- PIN (§6.5) -----

    /// Uses `protocol` for PIN operations instead of the key's preference
    /// (tests, and keys whose protocol two is broken).
    pub fn force_pin_protocol(&mut self, protocol: Option<PinUvAuthProtocol>) {
        self.forced_protocol = protocol;
    }

    /// The PIN/UV auth protocol to use: two when the key offers it, else one.
    pub fn pin_protocol(&self) -> Result<PinUvAuthProtocol> {
        let offered = &self.info.pin_uv_auth_protocols;
        if let Some(p) = self.forced_protocol {
            return if offered.contains(&p.id()) {
                Ok(p)
            } else {
                Err(Error::Unsupported(format!(
                    "PIN/UV auth protocol {}",
                    p.id()
                )))
            };
        }
        if offered.contains(&2) {
            Ok(PinUvAuthProtocol::Two)
        } else if offered.contains(&1) || (offered.is_empty() && self.info.pin_is_set().is_some()) {
            Ok(PinUvAuthProtocol::One)
        } else {
            Err(Error::Unsupported("PINs".into()))
        }
    }

    // ----- reset, selection -----

    /// Factory reset: deletes every credential and the PIN. Keys allow it
    /// only shortly after insertion and with a touch.
    pub fn reset(&mut self) -> Result<()> {
        self.send(&ResetRequest)?;
        self.refresh_info()?;
        Ok(())
    }

    /// Waits for a touch (authenticatorSelection).
    pub fn selection(&mut self) -> Result<()> {
        self.send(&SelectionRequest)
    }
}

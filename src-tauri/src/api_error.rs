//! The error every IPC command fails with: a typed code the UI switches on, the message,
//! the next step in the app's words ([`crate::hint`]) and the form field it concerns.

use serde::Serialize;
use ts_rs::TS;

/// An error as the UI sees it: it switches on `code` (stable: trove-core's
/// [`ErrorCode`](trove_core::ErrorCode), or an [`AppErrorCode`] of the layers above it),
/// shows `message` and `hint` (worded for the app: its screens and controls, never a CLI
/// flag), and puts the error next to `field` when the error is about one field of a form.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ApiError {
    pub code: ApiErrorCode,
    pub message: String,
    pub hint: Option<String>,
    pub field: Option<String>,
}

/// The code of an [`ApiError`]: one string union for the UI's switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(untagged)]
pub enum ApiErrorCode {
    Core(trove_core::ErrorCode),
    App(AppErrorCode),
}

/// Codes of errors raised above trove-core: by trove-share's servers, by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AppErrorCode {
    /// The shell failed in a way that is not the vault's (a background task died).
    Internal,
    /// A path the UI sent cannot be used.
    InvalidPath,
    /// Plain HTTP on an address other than loopback.
    TlsRequired,
    /// The TLS certificate or key can't be loaded.
    Tls,
    /// The remote (iroh) endpoint can't start.
    RemoteBind,
    /// The remote endpoint's bind address is not valid.
    RemoteBindAddr,
}

impl AppErrorCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [AppErrorCode] = &[
        AppErrorCode::Internal,
        AppErrorCode::InvalidPath,
        AppErrorCode::TlsRequired,
        AppErrorCode::Tls,
        AppErrorCode::RemoteBind,
        AppErrorCode::RemoteBindAddr,
    ];
}

impl ApiErrorCode {
    /// The code as the UI sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorCode::Core(c) => c.as_str(),
            ApiErrorCode::App(c) => match c {
                AppErrorCode::Internal => "internal",
                AppErrorCode::InvalidPath => "invalid_path",
                AppErrorCode::TlsRequired => "tls_required",
                AppErrorCode::Tls => "tls",
                AppErrorCode::RemoteBind => "remote_bind",
                AppErrorCode::RemoteBindAddr => "remote_bind_addr",
            },
        }
    }
}

impl PartialEq<&str> for ApiErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<trove_core::Error> for ApiError {
    fn from(e: trove_core::Error) -> Self {
        use trove_core::Error as E;
        let field = match &e {
            E::InvalidField { field, .. } | E::UnknownField { field, .. } => Some(field.clone()),
            _ => None,
        };
        ApiError {
            code: ApiErrorCode::Core(e.code()),
            message: e.to_string(),
            hint: crate::hint::hint(&e),
            field,
        }
    }
}

impl ApiError {
    /// An error the shell itself raises (not from trove-core), about form field `field`.
    pub fn shell(
        code: AppErrorCode,
        message: String,
        hint: Option<&str>,
        field: Option<&str>,
    ) -> Self {
        ApiError {
            code: ApiErrorCode::App(code),
            message,
            hint: hint.map(Into::into),
            field: field.map(Into::into),
        }
    }

    /// Moves the error next to form field `field` when it has none yet.
    pub fn at(mut self, field: &str) -> Self {
        if self.field.is_none() {
            self.field = Some(field.into());
        }
        self
    }
}

impl From<trove_share::RemoteError> for ApiError {
    fn from(e: trove_share::RemoteError) -> Self {
        use trove_share::RemoteError as E;
        let code = match &e {
            E::Relay(_) => ApiErrorCode::Core(trove_core::ErrorCode::InvalidRelayUrl),
            E::Bind(_) => ApiErrorCode::App(AppErrorCode::RemoteBind),
            E::BindAddr(_) => ApiErrorCode::App(AppErrorCode::RemoteBindAddr),
        };
        let hint = match &e {
            E::Relay(_) => "leave the relay empty for the default public relays, or give https://HOST of your own iroh-relay",
            _ => "check this computer's network, then switch it off and on again",
        };
        ApiError {
            code,
            message: e.to_string(),
            hint: Some(hint.into()),
            field: matches!(e, E::Relay(_)).then(|| "relay".into()),
        }
    }
}

impl From<trove_share::ServeError> for ApiError {
    fn from(e: trove_share::ServeError) -> Self {
        use trove_share::ServeError as E;
        let (code, hint) = match &e {
            E::TlsRequired(_) | E::HostNameNeedsTls(_) => (
                ApiErrorCode::App(AppErrorCode::TlsRequired),
                Some("use a loopback address such as 127.0.0.1:7878: the app serves this computer only"),
            ),
            E::Tls(_) => (ApiErrorCode::App(AppErrorCode::Tls), None),
            E::Io(_) => (ApiErrorCode::Core(trove_core::ErrorCode::Io), None),
        };
        ApiError {
            code,
            message: e.to_string(),
            hint: hint.map(Into::into),
            field: None,
        }
    }
}

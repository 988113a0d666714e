//! Authentication and tenancy.
//!
//! - **Platforms** (`/v1/stream`, `/v1/analyze`) present an API key:
//!   `Authorization: Bearer <key>`. Keys come from `CALMA_API_KEYS`, comma-separated, each `key`
//!   (tenant `default`) or `tenant:key`. Keys are compared in constant time (SHA-256 digests
//!   compared with `subtle`, every key checked, so neither length nor position leaks).
//! - **Operators** (`/v1/admin/*`, which acts on the whole process) present `CALMA_ADMIN_KEY`;
//!   a tenant's platform key gets 403 there.
//! - **Agent panels and supervisors** present a short-lived HS256 token signed with
//!   `CALMA_TOKEN_SECRET`, either as `Authorization: Bearer <token>` or as `?access_token=` on the
//!   WebSocket URL (browsers cannot set headers on a WebSocket). Claims: `tenant`, `sub` (agent
//!   id), `role` (`agent` | `supervisor`), `exp` (unix seconds, required), optional `nbf`/`iat`.
//!   Verification is `jsonwebtoken`'s: `alg` pinned to `HS256`, `crit` refused, the signature
//!   checked (constant time) before the claims are read, `exp` required. The clock checks
//!   (`exp`, `nbf`, 30 s leeway) and the longest lifetime (`exp - iat`, default 12 h,
//!   `CALMA_MAX_TOKEN_TTL_SECS`) are done here, against an explicit `now`.
//! - **Dev mode**: none of the three variables set. Everything is allowed as tenant `default`; the server
//!   refuses to start on a non-loopback address unless `--insecure-dev` (see `server::run`).
//!
//! When only one of the two variables is set, the endpoints that need the other are refused
//! (401): enabling authentication never leaves a door open by omission.
//!
//! **The supervisor feed** authorizes with `Scope::Supervisor` (401/403 as for agent sockets; dev
//! mode gives `Principal::Anonymous`, tenant `default`) and subscribes to the board of the
//! principal's tenant only (`hub::board`). Static pages (`/agent/{id}`, `/supervisor`) need no
//! credentials; the sockets they open carry the token as `?access_token=`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap};
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::protocol::{ErrorCode, ProtocolError};

/// Tenant of every connection in dev mode and of plain (`key` without `tenant:`) API keys.
pub const DEFAULT_TENANT: &str = "default";
/// Clock skew tolerated on `exp` and `nbf` (seconds).
pub const LEEWAY_SECS: u64 = 30;
/// Longest token or key read from a request (bytes); longer ones are refused unread.
pub const MAX_CREDENTIAL_BYTES: usize = 4096;
/// Longest token lifetime accepted by default: one shift (tokens travel in URLs).
pub const DEFAULT_MAX_TOKEN_TTL_SECS: u64 = 12 * 3600;

/// What a request asks to do.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Open a platform stream (`/v1/stream`).
    Stream,
    /// Open the panel feed of one agent.
    Agent(&'a str),
    /// Run a batch analysis.
    Analyze,
    /// Administrative calls (`/v1/admin/reload`): the admin key only.
    Admin,
    /// Watch a tenant's calls: the supervisor feed (`/v1/supervisor`, carries transcripts) and
    /// post-call records (`/v1/calls/{call_id}`).
    Supervisor,
}

/// Role carried by a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Supervisor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
        }
    }
}

/// Claims of an agent or supervisor token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub tenant: String,
    /// The agent id (for supervisors: who they are, for the logs).
    pub sub: String,
    pub role: Role,
    /// Expiry, unix seconds. Required.
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Who is asking, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Dev mode: no credentials are checked; tenant `default`.
    Anonymous,
    /// A platform holding an API key of `tenant`.
    Platform { tenant: String },
    /// A token holder (agent panel or supervisor).
    Token(Claims),
}

impl Principal {
    /// The tenant whose calls this principal may touch.
    pub fn tenant(&self) -> &str {
        match self {
            Principal::Anonymous => DEFAULT_TENANT,
            Principal::Platform { tenant } => tenant,
            Principal::Token(c) => &c.tenant,
        }
    }
}

/// Why a request was refused. `Unauthorized` variants answer 401, `Forbidden` ones 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer ...`{0}")]
    Missing(&'static str),
    #[error("unknown API key")]
    BadKey,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token header must name `alg` HS256")]
    BadAlgorithm,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error(
        "token lifetime of {lifetime} s exceeds this server's maximum of {max} s \
         (CALMA_MAX_TOKEN_TTL_SECS): mint shorter tokens"
    )]
    LifetimeTooLong { lifetime: u64, max: u64 },
    #[error("platform API keys cannot use /v1/admin/*: send CALMA_ADMIN_KEY")]
    NotAdmin,
    #[error("{0} are not enabled on this server")]
    NotConfigured(&'static str),
    #[error("a `{have}` token cannot do this (needs `{need}`)")]
    WrongRole {
        have: &'static str,
        need: &'static str,
    },
    #[error("this token is for agent `{token_sub}`, not `{asked}`")]
    WrongAgent { token_sub: String, asked: String },
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::WrongRole { .. } | AuthError::WrongAgent { .. } | AuthError::NotAdmin => {
                ErrorCode::Forbidden
            }
            _ => ErrorCode::Unauthorized,
        }
    }

    /// The typed error sent in the response body.
    pub fn to_protocol(&self) -> ProtocolError {
        ProtocolError::new(self.code(), self.to_string())
    }
}

impl From<AuthError> for ProtocolError {
    fn from(e: AuthError) -> Self {
        e.to_protocol()
    }
}

/// One configured API key: its tenant and the SHA-256 of the key.
#[derive(Clone)]
struct ApiKey {
    tenant: String,
    digest: [u8; 32],
}

/// Credentials the server accepts. `Debug` never prints secrets.
#[derive(Clone)]
pub struct AuthConfig {
    keys: Vec<ApiKey>,
    secret: Option<Vec<u8>>,
    /// SHA-256 of `CALMA_ADMIN_KEY`.
    admin: Option<[u8; 32]>,
    /// Longest token lifetime accepted (seconds).
    max_token_ttl: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            keys: Vec::new(),
            secret: None,
            admin: None,
            max_token_ttl: DEFAULT_MAX_TOKEN_TTL_SECS,
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("api_keys", &self.keys.len())
            .field("token_secret", &self.secret.is_some())
            .field("admin_key", &self.admin.is_some())
            .field("max_token_ttl", &self.max_token_ttl)
            .finish()
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control)
}

impl AuthConfig {
    /// Dev mode: nothing configured, everything allowed.
    pub fn open() -> AuthConfig {
        AuthConfig::default()
    }

    /// From the values of `CALMA_API_KEYS` and `CALMA_TOKEN_SECRET` (empty strings count as
    /// unset).
    pub fn from_values(
        api_keys: Option<&str>,
        token_secret: Option<&str>,
    ) -> Result<AuthConfig, ConfigError> {
        let mut cfg = AuthConfig::default();
        if let Some(list) = api_keys.filter(|s| !s.trim().is_empty()) {
            for (i, entry) in list.split(',').enumerate() {
                let entry = entry.trim();
                let (tenant, key) = match entry.split_once(':') {
                    Some((t, k)) => (t.trim(), k.trim()),
                    None => (DEFAULT_TENANT, entry),
                };
                if key.is_empty() || !valid_id(tenant) {
                    return Err(ConfigError(format!(
                        "CALMA_API_KEYS entry {}: expected `key` or `tenant:key`",
                        i + 1
                    )));
                }
                cfg = cfg.with_key(tenant, key);
            }
        }
        if let Some(s) = token_secret.filter(|s| !s.is_empty()) {
            if s.len() < 16 {
                return Err(ConfigError(
                    "CALMA_TOKEN_SECRET must be at least 16 bytes (32 random bytes recommended)"
                        .into(),
                ));
            }
            cfg.secret = Some(s.as_bytes().to_vec());
        }
        Ok(cfg)
    }

    /// Add an API key for `tenant`.
    pub fn with_key(mut self, tenant: &str, key: &str) -> AuthConfig {
        self.keys.push(ApiKey {
            tenant: tenant.to_string(),
            digest: sha256(key.as_bytes()),
        });
        self
    }

    /// Set the token secret.
    pub fn with_secret(mut self, secret: &[u8]) -> AuthConfig {
        self.secret = Some(secret.to_vec());
        self
    }

    /// Set the admin key (`CALMA_ADMIN_KEY`).
    pub fn with_admin_key(mut self, key: &str) -> AuthConfig {
        self.admin = Some(sha256(key.as_bytes()));
        self
    }

    /// The value of `CALMA_ADMIN_KEY` (empty counts as unset); at least 16 bytes.
    pub fn with_admin_key_value(self, key: Option<&str>) -> Result<AuthConfig, ConfigError> {
        match key.filter(|k| !k.is_empty()) {
            None => Ok(self),
            Some(k) if k.len() < 16 => Err(ConfigError(
                "CALMA_ADMIN_KEY must be at least 16 bytes (32 random bytes recommended)".into(),
            )),
            Some(k) if self.tenant_of_key(k).is_some() => Err(ConfigError(
                "CALMA_ADMIN_KEY must differ from every platform key".into(),
            )),
            Some(k) => Ok(self.with_admin_key(k)),
        }
    }

    /// Set the longest token lifetime accepted (seconds, at least 1).
    pub fn with_max_token_ttl(mut self, secs: u64) -> AuthConfig {
        self.max_token_ttl = secs.max(1);
        self
    }

    pub fn max_token_ttl(&self) -> u64 {
        self.max_token_ttl
    }

    /// Dev mode: no credential configured at all.
    pub fn is_open(&self) -> bool {
        self.keys.is_empty() && self.secret.is_none() && self.admin.is_none()
    }

    pub fn has_admin_key(&self) -> bool {
        self.admin.is_some()
    }

    fn is_admin_key(&self, key: &str) -> bool {
        self.admin
            .is_some_and(|d| bool::from(d.ct_eq(&sha256(key.as_bytes()))))
    }

    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// The tenant of `key`, comparing against every configured key in constant time.
    pub fn tenant_of_key(&self, key: &str) -> Option<&str> {
        let d = sha256(key.as_bytes());
        let mut found = None;
        for k in &self.keys {
            if bool::from(k.digest.ct_eq(&d)) && found.is_none() {
                found = Some(k.tenant.as_str());
            }
        }
        found
    }

    /// Verify a token against the configured secret at the current time, including the
    /// longest lifetime.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let secret = self
            .secret
            .as_deref()
            .ok_or(AuthError::NotConfigured("agent and supervisor tokens"))?;
        let now = unix_now();
        let claims = verify_token(secret, token, now)?;
        check_lifetime(&claims, now, self.max_token_ttl)?;
        Ok(claims)
    }
}

/// Decide whether the server may start with `cfg` on `addr`: dev mode (no credentials) only on a
/// loopback address, or anywhere with `insecure_dev`. Returns warnings to log loudly.
pub fn startup_check(
    cfg: &AuthConfig,
    addr: std::net::SocketAddr,
    insecure_dev: bool,
) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if cfg.is_open() {
        if !addr.ip().is_loopback() && !insecure_dev {
            return Err(format!(
                "refusing to listen on {addr} without credentials: set CALMA_API_KEYS and \
                 CALMA_TOKEN_SECRET (see README, Security), bind a loopback address, or pass \
                 --insecure-dev for a throwaway test machine"
            ));
        }
        warnings.push(format!(
            "DEV MODE: no CALMA_API_KEYS / CALMA_TOKEN_SECRET set; every request on {addr} is \
             accepted without credentials{}",
            if insecure_dev && !addr.ip().is_loopback() {
                " (--insecure-dev on a non-loopback address)"
            } else {
                ""
            }
        ));
    } else {
        if !cfg.has_keys() {
            warnings.push(
                "CALMA_API_KEYS is not set: platform endpoints (/v1/stream, /v1/analyze, \
                 /v1/admin/reload) refuse every request"
                    .into(),
            );
        }
        if !cfg.has_secret() {
            warnings.push(
                "CALMA_TOKEN_SECRET is not set: agent and supervisor sockets refuse every request"
                    .into(),
            );
        }
        if !cfg.has_admin_key() {
            warnings.push(
                "CALMA_ADMIN_KEY is not set: /v1/admin/reload refuses every request (SIGHUP \
                 still reloads)"
                    .into(),
            );
        }
    }
    Ok(warnings)
}

/// Whether `presented` equals the configured `expected` key, in constant time (digests
/// compared, so length does not leak either).
pub fn same_key(expected: &str, presented: &str) -> bool {
    bool::from(sha256(expected.as_bytes()).ct_eq(&sha256(presented.as_bytes())))
}

/// Seconds since the epoch.
/// Wall-clock unix milliseconds (history timestamps).
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sign `claims` as a compact HS256 JWT.
pub fn mint_token(secret: &[u8], claims: &Claims) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).expect("HMAC takes any non-empty key"),
    )
    .expect("HS256 signs any claims that serialise")
}

/// Verify a compact HS256 JWT at time `now` (unix seconds): structure, `alg` (HS256 only),
/// signature, then claims (`exp` required, `nbf` honoured, ids valid). The lifetime cap is the
/// server's policy: [`AuthConfig::verify`].
pub fn verify_token(secret: &[u8], token: &str, now: u64) -> Result<Claims, AuthError> {
    if token.len() > MAX_CREDENTIAL_BYTES {
        return Err(AuthError::Malformed("too long"));
    }
    if token.split('.').count() != 3 {
        return Err(AuthError::Malformed("expected three dot-separated parts"));
    }
    let mut v = Validation::new(Algorithm::HS256);
    // The crate reads the system clock; the clock checks below take `now` (and tests pin it).
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret).map_err(|_| AuthError::BadSignature)?,
        &v,
    )
    .map_err(|e| match e.kind() {
        JwtErrorKind::InvalidAlgorithm | JwtErrorKind::InvalidAlgorithmName => {
            AuthError::BadAlgorithm
        }
        JwtErrorKind::InvalidSignature => AuthError::BadSignature,
        JwtErrorKind::Base64(_) | JwtErrorKind::Utf8(_) => {
            AuthError::Malformed("a part is not base64url JSON")
        }
        JwtErrorKind::InvalidToken => {
            AuthError::Malformed("unsupported header (`crit`, `b64`) or structure")
        }
        // A header whose `alg` names no algorithm fails as JSON before the signature is
        // checked; claims are parsed only after it verified.
        JwtErrorKind::Json(_) if jsonwebtoken::decode_header(token).is_err() => {
            AuthError::BadAlgorithm
        }
        _ => AuthError::Malformed("claims need tenant, sub, role (agent|supervisor) and exp"),
    })?;
    let claims = data.claims;
    if !valid_id(&claims.tenant) || !valid_id(&claims.sub) {
        return Err(AuthError::Malformed("tenant and sub must be valid ids"));
    }
    if now >= claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(AuthError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| now.saturating_add(LEEWAY_SECS) < nbf)
    {
        return Err(AuthError::NotYetValid);
    }
    Ok(claims)
}

/// Refuse tokens that live longer than `max` seconds: `exp - iat`, counted from `now` when
/// there is no `iat` or it lies in the future (so a forged-late `iat` gains nothing).
pub fn check_lifetime(claims: &Claims, now: u64, max: u64) -> Result<(), AuthError> {
    let from = claims.iat.map_or(now, |iat| iat.min(now));
    let lifetime = claims.exp.saturating_sub(from);
    if lifetime > max.saturating_add(LEEWAY_SECS) {
        return Err(AuthError::LifetimeTooLong { lifetime, max });
    }
    Ok(())
}

/// The credential of a request: `Authorization: Bearer X` first, else `?access_token=X`.
pub fn credential<'a>(headers: &'a HeaderMap, query: &'a [(String, String)]) -> Option<&'a str> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, rest) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim())
            .filter(|s| !s.is_empty());
    }
    query
        .iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.as_str())
        .filter(|s| !s.is_empty())
}

/// Check a token for `role` on a request (header or `?access_token=`). In dev mode (nothing
/// configured) this fails with `NotConfigured`: callers that allow dev mode check
/// [`AuthConfig::is_open`] first, as [`authorize`] does.
pub fn require_token(
    cfg: &AuthConfig,
    headers: &HeaderMap,
    query: &[(String, String)],
    role: Role,
) -> Result<Claims, AuthError> {
    let token = credential(headers, query).ok_or(AuthError::Missing(" or `?access_token=`"))?;
    let claims = cfg.verify(token)?;
    if claims.role != role {
        return Err(AuthError::WrongRole {
            have: claims.role.as_str(),
            need: role.as_str(),
        });
    }
    Ok(claims)
}

/// Check a request before it is served. Errors answer HTTP 401 (`unauthorized`) or 403
/// (`forbidden`) with a typed JSON body.
pub fn authorize(
    cfg: &AuthConfig,
    headers: &HeaderMap,
    query: &[(String, String)],
    scope: Scope<'_>,
) -> Result<Principal, AuthError> {
    if cfg.is_open() {
        return Ok(Principal::Anonymous);
    }
    match scope {
        // The operator acts on the process, not as any tenant: no tenant principal.
        Scope::Admin => authorize_admin(cfg, headers).map(|()| Principal::Anonymous),
        Scope::Stream | Scope::Analyze => {
            if !cfg.has_keys() {
                return Err(AuthError::NotConfigured("platform API keys"));
            }
            // Platforms authenticate with the header only: keys never go in URLs (logs).
            let key = credential(headers, &[]).ok_or(AuthError::Missing(""))?;
            if key.len() > MAX_CREDENTIAL_BYTES {
                return Err(AuthError::BadKey);
            }
            let tenant = cfg.tenant_of_key(key).ok_or(AuthError::BadKey)?;
            Ok(Principal::Platform {
                tenant: tenant.to_string(),
            })
        }
        Scope::Agent(agent_id) => {
            let claims = require_token(cfg, headers, query, Role::Agent)?;
            if claims.sub != agent_id {
                return Err(AuthError::WrongAgent {
                    token_sub: claims.sub,
                    asked: agent_id.to_string(),
                });
            }
            Ok(Principal::Token(claims))
        }
        Scope::Supervisor => {
            require_token(cfg, headers, query, Role::Supervisor).map(Principal::Token)
        }
    }
}

/// Check an administrative request (`/v1/admin/*`): `Authorization: Bearer <CALMA_ADMIN_KEY>`.
/// A platform key gets [`AuthError::NotAdmin`] (403). Dev mode allows it (the Origin/Host guard
/// limits dev-mode admin to loopback peers).
pub fn authorize_admin(cfg: &AuthConfig, headers: &HeaderMap) -> Result<(), AuthError> {
    if cfg.is_open() {
        return Ok(());
    }
    let key = credential(headers, &[]).ok_or(AuthError::Missing(""))?;
    if key.len() > MAX_CREDENTIAL_BYTES {
        return Err(AuthError::BadKey);
    }
    if cfg.is_admin_key(key) {
        return Ok(());
    }
    if cfg.tenant_of_key(key).is_some() {
        return Err(AuthError::NotAdmin);
    }
    if !cfg.has_admin_key() {
        return Err(AuthError::NotConfigured("admin requests (CALMA_ADMIN_KEY)"));
    }
    Err(AuthError::BadKey)
}

/// Whether `principal` may see the calls of `tenant` handled by `agent_id` (supervisor feed
/// filter: a supervisor sees its tenant; an agent only its own calls; dev mode sees all).
pub fn may_see(principal: &Principal, tenant: &str, agent_id: &str) -> bool {
    match principal {
        Principal::Anonymous => true,
        Principal::Platform { tenant: t } => t == tenant,
        Principal::Token(c) => {
            c.tenant == tenant && (c.role == Role::Supervisor || c.sub == agent_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};

    type HmacSha256 = Hmac<Sha256>;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(role: Role, exp: u64) -> Claims {
        Claims {
            tenant: "t1".into(),
            sub: "a-7".into(),
            role,
            exp,
            nbf: None,
            iat: None,
        }
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn sign(h: &str, p: &str, secret: &[u8]) -> String {
        let input = format!("{}.{}", b64(h), b64(p));
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn round_trip_and_expiry() {
        let t = mint_token(SECRET, &claims(Role::Agent, 1_000));
        assert_eq!(verify_token(SECRET, &t, 999).unwrap().sub, "a-7");
        // Within the leeway, then expired.
        assert!(verify_token(SECRET, &t, 1_000 + LEEWAY_SECS - 1).is_ok());
        assert_eq!(
            verify_token(SECRET, &t, 1_000 + LEEWAY_SECS),
            Err(AuthError::Expired)
        );
    }

    /// A token minted by an independent implementation (Python's hmac + hashlib + base64, RFC 7519
    /// layout): header `{"typ":"JWT","alg":"HS256"}`, claims
    /// `{"tenant":"t1","sub":"a-7","role":"agent","exp":2000000000,"extra":1}`, secret [`SECRET`].
    #[test]
    fn verifies_a_token_minted_elsewhere() {
        let t = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJ0MSIsInN1YiI6ImEtNyIsInJvbGUiOiJhZ2VudCIsImV4cCI6MjAwMDAwMDAwMCwiZXh0cmEiOjF9.bxq9hdys1JlApWpdff18flfle1vo7yOY2rewGwY1pzs";
        let c = verify_token(SECRET, t, 1_700_000_000).unwrap();
        assert_eq!(
            (c.tenant.as_str(), c.sub.as_str(), c.role),
            ("t1", "a-7", Role::Agent)
        );
        assert_eq!(c.exp, 2_000_000_000);
        // Our own minting verifies the same way.
        let mine = mint_token(SECRET, &c);
        assert_eq!(verify_token(SECRET, &mine, 1_700_000_000).unwrap(), c);
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let good = mint_token(SECRET, &claims(Role::Agent, 2_000_000_000));
        // Wrong secret.
        assert_eq!(
            verify_token(b"another-secret-of-32-bytes......", &good, 0),
            Err(AuthError::BadSignature)
        );
        // Payload swapped (role escalated) keeping the signature.
        let parts: Vec<&str> = good.split('.').collect();
        let evil = b64(r#"{"tenant":"t1","sub":"a-7","role":"supervisor","exp":2000000000}"#);
        let forged = format!("{}.{}.{}", parts[0], evil, parts[2]);
        assert_eq!(
            verify_token(SECRET, &forged, 0),
            Err(AuthError::BadSignature)
        );
        // alg=none, and other algorithms, even "correctly" signed.
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"tenant":"t1","sub":"a","role":"agent","exp":2000000000}"#)
        );
        assert_eq!(verify_token(SECRET, &none, 0), Err(AuthError::BadAlgorithm));
        for alg in ["HS512", "hs256", "RS256", ""] {
            let t = sign(
                &format!(r#"{{"alg":"{alg}"}}"#),
                r#"{"tenant":"t1","sub":"a","role":"agent","exp":2000000000}"#,
                SECRET,
            );
            assert_eq!(
                verify_token(SECRET, &t, 0),
                Err(AuthError::BadAlgorithm),
                "{alg}"
            );
        }
        // exp is required; role must be known; crit refused.
        let no_exp = sign(
            r#"{"alg":"HS256"}"#,
            r#"{"tenant":"t1","sub":"a","role":"agent"}"#,
            SECRET,
        );
        assert!(matches!(
            verify_token(SECRET, &no_exp, 0),
            Err(AuthError::Malformed(_))
        ));
        let bad_role = sign(
            r#"{"alg":"HS256"}"#,
            r#"{"tenant":"t1","sub":"a","role":"admin","exp":2000000000}"#,
            SECRET,
        );
        assert!(matches!(
            verify_token(SECRET, &bad_role, 0),
            Err(AuthError::Malformed(_))
        ));
        let crit = sign(
            r#"{"alg":"HS256","crit":["x"]}"#,
            r#"{"tenant":"t1","sub":"a","role":"agent","exp":2000000000}"#,
            SECRET,
        );
        assert!(matches!(
            verify_token(SECRET, &crit, 0),
            Err(AuthError::Malformed(_))
        ));
        // nbf in the future.
        let nbf = sign(
            r#"{"alg":"HS256"}"#,
            r#"{"tenant":"t1","sub":"a","role":"agent","exp":2000000000,"nbf":1900000000}"#,
            SECRET,
        );
        assert_eq!(
            verify_token(SECRET, &nbf, 1_000),
            Err(AuthError::NotYetValid)
        );
        // Structure.
        for t in ["", "a.b", "a.b.c.d", "!!.??.**", &"x".repeat(5000)] {
            assert!(
                matches!(verify_token(SECRET, t, 0), Err(AuthError::Malformed(_))),
                "{t:.20}"
            );
        }
        // Padding or a truncated signature.
        assert!(verify_token(SECRET, &format!("{good}="), 0).is_err());
        assert!(verify_token(SECRET, &good[..good.len() - 2], 0).is_err());
    }

    #[test]
    fn token_lifetime_is_capped() {
        let now = 1_700_000_000;
        let mut c = claims(Role::Agent, now + 3600);
        assert!(check_lifetime(&c, now, 3600).is_ok());
        c.exp = now + 7200;
        assert_eq!(
            check_lifetime(&c, now, 3600),
            Err(AuthError::LifetimeTooLong {
                lifetime: 7200,
                max: 3600
            })
        );
        // `iat` counts from issue: an old two-hour token is refused even near its end...
        c.iat = Some(now - 7000);
        c.exp = now + 200;
        assert!(check_lifetime(&c, now, 3600).is_err());
        // ...and an `iat` in the future does not stretch the window.
        c.iat = Some(now + 10_000);
        c.exp = now + 10_600;
        assert!(check_lifetime(&c, now, 3600).is_err());
        // Year 3000.
        c.iat = None;
        c.exp = 32_503_680_000;
        assert!(check_lifetime(&c, now, DEFAULT_MAX_TOKEN_TTL_SECS).is_err());
    }

    #[test]
    fn api_keys_map_to_tenants() {
        let cfg = AuthConfig::from_values(Some(" k-plain , t1:k-one,t2:k:two "), None).unwrap();
        assert_eq!(cfg.tenant_of_key("k-plain"), Some(DEFAULT_TENANT));
        assert_eq!(cfg.tenant_of_key("k-one"), Some("t1"));
        assert_eq!(cfg.tenant_of_key("k:two"), Some("t2"));
        assert_eq!(cfg.tenant_of_key("k-on"), None);
        assert_eq!(cfg.tenant_of_key(""), None);
        assert!(AuthConfig::from_values(Some("t1:"), None).is_err());
        assert!(AuthConfig::from_values(Some("a,,b"), None).is_err());
        assert!(AuthConfig::from_values(None, Some("short")).is_err());
        assert!(AuthConfig::from_values(Some(""), Some(""))
            .unwrap()
            .is_open());
        assert!(!format!("{cfg:?}").contains("k-one"));
    }

    fn bearer(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn authorize_by_scope() {
        let cfg = AuthConfig::open()
            .with_key("t1", "key-1")
            .with_secret(SECRET);
        let none = HeaderMap::new();
        assert_eq!(
            authorize(&cfg, &bearer("Bearer key-1"), &[], Scope::Stream),
            Ok(Principal::Platform {
                tenant: "t1".into()
            })
        );
        // A tenant's platform key is no admin key; the admin key is no platform key.
        assert_eq!(
            authorize(&cfg, &bearer("bearer key-1"), &[], Scope::Admin),
            Err(AuthError::NotAdmin)
        );
        assert_eq!(
            authorize(&cfg, &none, &[], Scope::Admin)
                .unwrap_err()
                .code(),
            ErrorCode::Unauthorized
        );
        let admin = cfg.clone().with_admin_key("admin-key-0123456789");
        assert!(authorize(
            &admin,
            &bearer("Bearer admin-key-0123456789"),
            &[],
            Scope::Admin
        )
        .is_ok());
        assert_eq!(
            authorize(
                &admin,
                &bearer("Bearer admin-key-0123456789"),
                &[],
                Scope::Stream
            ),
            Err(AuthError::BadKey)
        );
        assert_eq!(
            authorize(
                &admin,
                &bearer("Bearer admin-key-012345678"),
                &[],
                Scope::Admin
            ),
            Err(AuthError::BadKey)
        );
        assert_eq!(
            authorize(&cfg, &none, &[], Scope::Analyze)
                .unwrap_err()
                .code(),
            ErrorCode::Unauthorized
        );
        assert_eq!(
            authorize(&cfg, &bearer("Bearer key-2"), &[], Scope::Stream),
            Err(AuthError::BadKey)
        );
        assert_eq!(
            authorize(&cfg, &bearer("Basic key-1"), &[], Scope::Stream)
                .unwrap_err()
                .code(),
            ErrorCode::Unauthorized
        );
        // API keys are not accepted in the query string.
        let q = vec![("access_token".to_string(), "key-1".to_string())];
        assert!(authorize(&cfg, &none, &q, Scope::Stream).is_err());

        let exp = unix_now() + 600;
        let agent = mint_token(SECRET, &claims(Role::Agent, exp));
        let sup = mint_token(SECRET, &claims(Role::Supervisor, exp));
        let q = |t: &str| vec![("access_token".to_string(), t.to_string())];
        let p = authorize(&cfg, &none, &q(&agent), Scope::Agent("a-7")).unwrap();
        assert_eq!(p.tenant(), "t1");
        assert!(authorize(
            &cfg,
            &bearer(&format!("Bearer {agent}")),
            &[],
            Scope::Agent("a-7")
        )
        .is_ok());
        assert_eq!(
            authorize(&cfg, &none, &q(&agent), Scope::Agent("a-8"))
                .unwrap_err()
                .code(),
            ErrorCode::Forbidden
        );
        assert_eq!(
            authorize(&cfg, &none, &q(&sup), Scope::Agent("a-7"))
                .unwrap_err()
                .code(),
            ErrorCode::Forbidden
        );
        assert!(authorize(&cfg, &none, &q(&sup), Scope::Supervisor).is_ok());
        assert_eq!(
            authorize(&cfg, &none, &q(&agent), Scope::Supervisor)
                .unwrap_err()
                .code(),
            ErrorCode::Forbidden
        );
        // Tokens are not platform keys.
        assert!(authorize(
            &cfg,
            &bearer(&format!("Bearer {agent}")),
            &[],
            Scope::Stream
        )
        .is_err());
        let expired = mint_token(SECRET, &claims(Role::Agent, 1));
        assert_eq!(
            authorize(&cfg, &none, &q(&expired), Scope::Agent("a-7")),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn half_configured_refuses_the_other_half_and_dev_mode_allows_all() {
        let keys_only = AuthConfig::open().with_key("t1", "key-1");
        let none = HeaderMap::new();
        assert_eq!(
            authorize(&keys_only, &none, &[], Scope::Agent("a"))
                .unwrap_err()
                .code(),
            ErrorCode::Unauthorized
        );
        let q = vec![(
            "access_token".to_string(),
            mint_token(SECRET, &claims(Role::Agent, unix_now() + 60)),
        )];
        assert_eq!(
            authorize(&keys_only, &none, &q, Scope::Agent("a-7")),
            Err(AuthError::NotConfigured("agent and supervisor tokens"))
        );
        let secret_only = AuthConfig::open().with_secret(SECRET);
        assert_eq!(
            authorize(&secret_only, &bearer("Bearer x"), &[], Scope::Stream),
            Err(AuthError::NotConfigured("platform API keys"))
        );
        let open = AuthConfig::open();
        for s in [
            Scope::Stream,
            Scope::Agent("x"),
            Scope::Analyze,
            Scope::Admin,
            Scope::Supervisor,
        ] {
            assert_eq!(authorize(&open, &none, &[], s), Ok(Principal::Anonymous));
        }
    }

    #[test]
    fn require_token_for_the_supervisor_feed_and_its_filter() {
        let cfg = AuthConfig::open().with_secret(SECRET);
        let exp = unix_now() + 600;
        let q = |c: &Claims| vec![("access_token".to_string(), mint_token(SECRET, c))];
        let sup = require_token(
            &cfg,
            &HeaderMap::new(),
            &q(&claims(Role::Supervisor, exp)),
            Role::Supervisor,
        )
        .unwrap();
        let p = Principal::Token(sup);
        assert!(may_see(&p, "t1", "anyone"));
        assert!(!may_see(&p, "t2", "anyone"));
        let agent = Principal::Token(claims(Role::Agent, exp));
        assert!(may_see(&agent, "t1", "a-7"));
        assert!(!may_see(&agent, "t1", "a-8"));
        assert!(may_see(&Principal::Anonymous, "t9", "x"));
        assert_eq!(
            require_token(&cfg, &HeaderMap::new(), &[], Role::Supervisor)
                .unwrap_err()
                .code(),
            ErrorCode::Unauthorized
        );
    }
}

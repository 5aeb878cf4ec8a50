//! Who may do what: API tokens, the four roles, and the rules that decide
//! whether a caller sees a layer, may write it, may read an application or
//! decide one of its tasks. Pure: the store keeps the tokens (hashed), the API
//! asks these rules; nothing here knows HTTP.
//!
//! Roles:
//! - `public` (also every caller without a token): published layers, their
//!   tiles, features and constraints; the catalog and departments.
//! - `intake` (the municipal services desk): also unpublished layers, routes,
//!   and applications: create and read all of them.
//! - `department` (a department's GIS specialist, bound to one department):
//!   also imports and edits of their department's layers, the applications
//!   routed to their department, and decisions on their department's tasks.
//! - `admin`: everything, including `/metrics` and any layer or task.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::applications::Application;
use crate::model::LayerSpec;

/// What a token may do; ordered by reach for [`Principal::at_least`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Public,
    Intake,
    Department,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Public, Role::Intake, Role::Department, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Intake => "intake",
            Role::Department => "department",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Role::Public),
            "intake" => Ok(Role::Intake),
            // The words for the role; `department` is what is stored.
            "department" | "specialist" => Ok(Role::Department),
            "admin" => Ok(Role::Admin),
            other => Err(AuthError::UnknownRole(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("unknown role '{0}': expected public, intake, department or admin")]
    UnknownRole(String),
    #[error(
        "a department token needs --department: the department whose layers and tasks it acts on"
    )]
    DepartmentRequired,
    #[error("only a department token is bound to a department; drop --department for role {0}")]
    DepartmentNotAllowed(Role),
    /// No token where the action needs one: 401.
    #[error("{0} needs an API token: send `Authorization: Bearer <token>`")]
    TokenRequired(&'static str),
    /// A token that is not one of ours, or revoked: 401.
    #[error("the API token is not valid (unknown, malformed or revoked)")]
    InvalidToken,
    /// A valid token of the wrong role or department: 403.
    #[error("{0}")]
    Forbidden(String),
}

/// Who is calling: the anonymous public, or the holder of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    /// Set exactly for the `department` role.
    pub department: Option<String>,
    /// The token's id (for logs: never the secret); none for anonymous callers.
    pub token_id: Option<i64>,
}

impl Principal {
    /// A caller without a token.
    pub fn anonymous() -> Self {
        Principal {
            role: Role::Public,
            department: None,
            token_id: None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.token_id.is_none()
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Staff (intake, departments, admin) see internal layers too.
    pub fn is_staff(&self) -> bool {
        self.role >= Role::Intake
    }

    /// Refuses with 401 (no token) or 403 (a token of another role) unless the
    /// caller's role is one of `roles`; `what` names the action for the message.
    pub fn require(&self, what: &'static str, roles: &[Role]) -> Result<(), AuthError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        if self.is_anonymous() {
            return Err(AuthError::TokenRequired(what));
        }
        let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(AuthError::Forbidden(format!(
            "{what} needs the role {}; this token has the role {}",
            allowed.join(" or "),
            self.role
        )))
    }

    /// Whether the layer exists for this caller at all: internal layers are
    /// invisible (not forbidden: not there) to the public.
    pub fn sees_layer(&self, spec: &LayerSpec) -> bool {
        spec.public || self.is_staff()
    }

    /// Imports and edits: admin anywhere, a department on its own layers.
    pub fn may_write_layer(&self, what: &'static str, spec: &LayerSpec) -> Result<(), AuthError> {
        self.require(what, &[Role::Department, Role::Admin])?;
        self.may_act_for(
            what,
            spec.department.as_deref(),
            "layer",
            spec.code.as_str(),
        )
    }

    /// A layer that does not exist yet (an import creating it): a department
    /// may create only layers it will own.
    pub fn may_create_layer(
        &self,
        what: &'static str,
        department: Option<&str>,
        code: &str,
    ) -> Result<(), AuthError> {
        self.require(what, &[Role::Department, Role::Admin])?;
        self.may_act_for(what, department, "new layer", code)
    }

    fn may_act_for(
        &self,
        what: &'static str,
        owner: Option<&str>,
        thing: &str,
        name: &str,
    ) -> Result<(), AuthError> {
        if self.is_admin() || (owner.is_some() && owner == self.department.as_deref()) {
            return Ok(());
        }
        Err(AuthError::Forbidden(format!(
            "{what}: {thing} '{name}' belongs to {}, not to this token's department {}",
            owner.map_or_else(|| "no department".to_owned(), |d| format!("department {d}")),
            self.department.as_deref().unwrap_or("-"),
        )))
    }

    /// Applications hold applicants' data: intake and admin read them all, a
    /// department those with a task of its own.
    pub fn may_read_application(&self, application: &Application) -> Result<(), AuthError> {
        const WHAT: &str = "reading an application";
        self.require(WHAT, &[Role::Intake, Role::Department, Role::Admin])?;
        if self.role != Role::Department
            || application
                .tasks
                .iter()
                .any(|t| Some(t.department.as_str()) == self.department.as_deref())
        {
            return Ok(());
        }
        Err(AuthError::Forbidden(format!(
            "application {} is not routed to department {}",
            application.id,
            self.department.as_deref().unwrap_or("-")
        )))
    }

    /// A task's decision is its department's (or an admin's).
    pub fn may_decide(&self, task_department: &str) -> Result<(), AuthError> {
        const WHAT: &str = "deciding a task";
        self.require(WHAT, &[Role::Department, Role::Admin])?;
        self.may_act_for(WHAT, Some(task_department), "the task", task_department)
    }
}

/// The prefix every imgis token starts with, so a leaked one is recognisable
/// (secret scanners, log reviews).
pub const TOKEN_PREFIX: &str = "imgis_";

/// A freshly made token: shown once to whoever made it, stored only as its hash.
pub struct TokenSecret(String);

impl TokenSecret {
    /// 256 random bits from the operating system's CSPRNG (through rand's
    /// thread generator, reseeded from it), hex-encoded.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        TokenSecret(format!("{TOKEN_PREFIX}{}", hex(&bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps: the SHA-256 of the whole token. A slow password
    /// hash buys nothing here: the token has 256 bits of entropy, so its hash
    /// cannot be searched, and a fast one keeps every request cheap.
    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }

    /// The first characters, kept in clear to tell tokens apart in lists.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(TOKEN_PREFIX.len() + 8).collect()
    }
}

/// The stored form of a presented token (hex SHA-256).
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether a presented string can be a token at all (before any lookup).
pub fn looks_like_token(token: &str) -> bool {
    token.len() == TOKEN_PREFIX.len() + 64
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A token to store: everything but the secret, which is never stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: String,
    pub prefix: String,
    pub role: Role,
    pub department: Option<String>,
    pub label: String,
}

impl NewToken {
    /// Checks the role and department go together.
    pub fn new(
        secret: &TokenSecret,
        role: Role,
        department: Option<String>,
        label: String,
    ) -> Result<Self, AuthError> {
        match (role, &department) {
            (Role::Department, None) => return Err(AuthError::DepartmentRequired),
            (Role::Department, Some(_)) | (_, None) => {}
            (other, Some(_)) => return Err(AuthError::DepartmentNotAllowed(other)),
        }
        Ok(NewToken {
            hash: secret.hash(),
            prefix: secret.display_prefix(),
            role,
            department,
            label,
        })
    }
}

/// A stored token as listed: never its secret, nor its hash.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub prefix: String,
    pub role: Role,
    pub department: Option<String>,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    pub fn principal(&self) -> Principal {
        Principal {
            role: self.role,
            department: self.department.clone(),
            token_id: Some(self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(role: Role, department: Option<&str>) -> Principal {
        Principal {
            role,
            department: department.map(str::to_owned),
            token_id: Some(1),
        }
    }

    #[test]
    fn tokens_are_random_recognisable_and_hashed() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(looks_like_token(a.expose()), "{}", a.expose());
        assert!(!looks_like_token("imgis_xyz"));
        assert!(!looks_like_token(&a.expose().replace("imgis_", "other_")));
        assert_eq!(a.hash().len(), 64);
        assert_eq!(a.hash(), hash_token(a.expose()));
        assert_ne!(a.hash(), b.hash());
        assert!(a.expose().starts_with(&a.display_prefix()));
        assert!(!a.hash().contains(&a.expose()[6..20]));
        // The SHA-256 of "abc", as published in FIPS 180-2.
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn department_goes_with_the_department_role_only() {
        let s = TokenSecret::generate();
        assert_eq!(
            NewToken::new(&s, Role::Department, None, String::new()).err(),
            Some(AuthError::DepartmentRequired)
        );
        assert_eq!(
            NewToken::new(&s, Role::Intake, Some("GAS".into()), String::new()).err(),
            Some(AuthError::DepartmentNotAllowed(Role::Intake))
        );
        assert!(NewToken::new(&s, Role::Department, Some("GAS".into()), String::new()).is_ok());
        assert_eq!("specialist".parse::<Role>(), Ok(Role::Department));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn require_tells_missing_token_from_wrong_role() {
        let admin_only = [Role::Admin];
        assert!(matches!(
            Principal::anonymous().require("x", &admin_only),
            Err(AuthError::TokenRequired(_))
        ));
        assert!(matches!(
            token(Role::Intake, None).require("x", &admin_only),
            Err(AuthError::Forbidden(_))
        ));
        assert!(token(Role::Admin, None).require("x", &admin_only).is_ok());
    }

    #[test]
    fn layers_belong_to_their_department() {
        let spec = |public: bool, department: Option<&str>| LayerSpec {
            code: "water".parse().unwrap(),
            title: "Water".into(),
            description: String::new(),
            kind: crate::model::LayerKind::Utilities,
            department: department.map(str::to_owned),
            geometry_type: crate::model::GeometryType::LineString,
            public,
        };
        let internal = spec(false, Some("WATER"));
        assert!(!Principal::anonymous().sees_layer(&internal));
        assert!(!token(Role::Public, None).sees_layer(&internal));
        assert!(token(Role::Intake, None).sees_layer(&internal));
        assert!(Principal::anonymous().sees_layer(&spec(true, None)));

        let water = token(Role::Department, Some("WATER"));
        let gas = token(Role::Department, Some("GAS"));
        assert!(water.may_write_layer("import", &internal).is_ok());
        assert!(matches!(
            gas.may_write_layer("import", &internal),
            Err(AuthError::Forbidden(_))
        ));
        // A layer of no department is the admin's to write.
        assert!(water.may_write_layer("import", &spec(true, None)).is_err());
        assert!(token(Role::Admin, None)
            .may_write_layer("import", &spec(true, None))
            .is_ok());
        assert!(token(Role::Intake, None)
            .may_write_layer("import", &internal)
            .is_err());
        assert!(gas.may_create_layer("import", Some("GAS"), "new").is_ok());
        assert!(gas
            .may_create_layer("import", Some("WATER"), "new")
            .is_err());
        assert!(gas.may_create_layer("import", None, "new").is_err());
        assert!(gas.may_decide("GAS").is_ok());
        assert!(gas.may_decide("WATER").is_err());
        assert!(token(Role::Intake, None).may_decide("GAS").is_err());
    }
}

//! Values that must never be printed, logged or copied by accident. Each is a newtype whose
//! `Debug` prints `[redacted]`, with no `Display` and no `Clone`: the one place that needs the
//! text calls `expose()`, which is easy to find in a review.

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The secret text, for the one request or record that carries it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret!(
    /// RFC 6749 §1.5: the grant. Held by the session holder only, rotated at every refresh.
    RefreshToken
);
secret!(
    /// RFC 7636 §4.1: kept from `loginWithRedirect` to the callback, sent once.
    CodeVerifier
);
secret!(
    /// The ID token JWT (OIDC Core §2), kept only as `id_token_hint` for logout.
    IdToken
);
secret!(
    /// RFC 6749 §4.1.2: the authorization code from the callback.
    AuthorizationCode
);

/// RFC 6749 §1.4: an access token. Clonable (it is handed to every API call and to other
/// tabs), but never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(value: impl Into<String>) -> Self {
        AccessToken(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// A form body (`application/x-www-form-urlencoded`) that may carry a secret: printed without
/// values.
#[derive(Default, PartialEq, Eq)]
pub struct FormBody(pub Vec<(String, String)>);

impl FormBody {
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_string(), value.into()));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn encode(&self) -> String {
        super::form::encode(&self.0)
    }
}

impl std::fmt::Debug for FormBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        write!(f, "FormBody({names:?}, values redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_redacted() {
        let rt = RefreshToken::new("rt-very-secret");
        let at = AccessToken::new("eyJ.at.secret");
        let mut body = FormBody::default();
        body.push("refresh_token", "rt-very-secret");
        let printed = format!("{rt:?} {at:?} {body:?} {:?}", CodeVerifier::new("v"));
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("RefreshToken([redacted])"));
        assert!(printed.contains("refresh_token"));
        assert_eq!(rt.expose(), "rt-very-secret");
        assert_eq!(body.get("refresh_token"), Some("rt-very-secret"));
    }
}

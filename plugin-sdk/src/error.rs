//! Helpers on [`PluginError`], the reason a plugin produced no placeholders.

use crate::PluginError;

impl PluginError {
    /// The WIT name of the case: `not-found`, `upstream`, `denied`, `rate-limited`,
    /// `bad-config` or `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not-found",
            Self::Upstream(_) => "upstream",
            Self::Denied(_) => "denied",
            Self::RateLimited(_) => "rate-limited",
            Self::BadConfig(_) => "bad-config",
            Self::Internal(_) => "internal",
        }
    }

    /// The message the plugin gave.
    pub fn message(&self) -> &str {
        match self {
            Self::NotFound(m)
            | Self::Upstream(m)
            | Self::Denied(m)
            | Self::RateLimited(m)
            | Self::BadConfig(m)
            | Self::Internal(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_and_message_read_the_case() {
        let error = PluginError::BadConfig("the setting `url` is not set".into());
        assert_eq!(error.kind(), "bad-config");
        assert_eq!(error.message(), "the setting `url` is not set");
    }
}

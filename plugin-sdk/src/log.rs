//! The plugin's log: kept by the host with a size cap, shown to admins and plugin authors.
//!
//! Use the macros, which take `format!` arguments: `log::info!("looked up {user}")`. Never log
//! anything secret; admins read this log.

pub use crate::bindings::tessera::plugin::log::Level;

/// Writes one line at `level` (the host cuts long lines).
pub fn write(level: Level, message: &str) {
    crate::bindings::tessera::plugin::log::write(level, message);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::write($crate::log::Level::$level, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_log_debug {
    ($($arg:tt)+) => { $crate::__tessera_log!(Debug, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_log_info {
    ($($arg:tt)+) => { $crate::__tessera_log!(Info, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_log_warn {
    ($($arg:tt)+) => { $crate::__tessera_log!(Warn, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_log_error {
    ($($arg:tt)+) => { $crate::__tessera_log!(Error, $($arg)+) };
}

/// Writes a debug line: `log::debug!("{} bytes", body.len())`.
#[doc(inline)]
pub use crate::__tessera_log_debug as debug;
/// Writes an error line: `log::error!("unexpected answer: {e}")`.
#[doc(inline)]
pub use crate::__tessera_log_error as error;
/// Writes an info line: `log::info!("found {name}")`.
#[doc(inline)]
pub use crate::__tessera_log_info as info;
/// Writes a warning line: `log::warn!("field {field} missing")`.
#[doc(inline)]
pub use crate::__tessera_log_warn as warn;

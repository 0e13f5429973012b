//! One traced check: HTTP(S), TCP or DNS, with per-phase timings and a classified error.

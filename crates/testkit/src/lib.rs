//! Test support: starts real servers on loopback with free ports and a deadline, stops them on drop.

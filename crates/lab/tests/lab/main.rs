//! The lab run in-process through its library API, one lab at a time:
//! with one node cut, the ingress goes around it and the service's failures
//! fall on the callers in proportion to the connections they sent it
//! (`routes`); every fault kind turns exactly the checks it should red or
//! slow and nothing else, unknown nodes are refused, and a fault on every
//! node is allowed and noted (`faults`).

mod faults;
mod routes;
mod support;

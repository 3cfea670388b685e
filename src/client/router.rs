//! Routing: which server of a type gets a call (being written).

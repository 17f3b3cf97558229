//! placeholder until the host issue lands

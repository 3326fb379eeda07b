//! One module per command (the older commands still live in `main.rs` and `runtime_cmds.rs`).

pub(crate) mod diff;

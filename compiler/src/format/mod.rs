//! Modules in, canonical text out (`featc fmt`).

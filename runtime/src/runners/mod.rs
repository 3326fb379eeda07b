//! A plan, its sources and stores in, features out: the Kappa replay, the Lambda layers and
//! serving merge, training sets, materialization and `verify`.

pub mod kappa;
pub mod lambda;
pub mod materialize;
pub mod reader;
pub mod training;
pub mod verify;

//! The signed DNS test world.

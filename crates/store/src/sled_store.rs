//! The sled implementation of [`crate::Store`] (to be written).

//! Lowering pest pairs into the model.

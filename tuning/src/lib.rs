//! Host tuning checks for Tessera (placeholder until `check-host` lands).

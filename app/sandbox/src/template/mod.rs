//! Django template language subset (being written).

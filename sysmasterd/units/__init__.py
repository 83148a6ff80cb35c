"""Unit types, one module each, peers behind the UnitType interface."""

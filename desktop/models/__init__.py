"""Qt item models: turn the state object's change records into model signals."""

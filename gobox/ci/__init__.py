"""gobox ci and gobox verify: clean-room builds, their provenance, and the proof they reproduce."""

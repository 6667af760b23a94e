"""Simulators behind one gymnasium interface (tabletop suite, LIBERO, robosuite). No torch."""

"""`shaobing demo`: the whole chain on one machine, with a scenario played by simulated devices."""

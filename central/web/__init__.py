"""The web pages central serves: the monitoring centre's console and the e-bike owners' pages."""

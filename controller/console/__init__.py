"""The fleet web console: hand-written HTML, CSS and JavaScript modules under static/, served at `/`."""

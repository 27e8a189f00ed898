"""People, their health cards, and hospitals' local patient ids pointing at them."""

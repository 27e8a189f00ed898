"""One person's studies across every institution, newest first, with the duplicate-exam hint."""

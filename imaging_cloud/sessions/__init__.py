"""Signed-in sessions: patient sign-in through an EHC issuer, refresh-token rotation and sign-out revocation."""

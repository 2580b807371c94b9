"""The closed-loop simulator of both terminals, built on qsat_pat.core."""

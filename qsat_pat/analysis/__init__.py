"""Offline analysis of logs and studies (not flight code): imports core; core never imports it."""

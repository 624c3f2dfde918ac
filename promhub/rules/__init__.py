"""Rule groups, recording and alerting rules, and their template language."""

"""Recording and alerting rules: rule files, groups, evaluation and the rules manager."""

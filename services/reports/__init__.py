"""The statutory route of reports of concern: delivery into the social services' registers."""

"""The Vigil console's server side: the read APIs behind the operators' page (``read_api``)."""

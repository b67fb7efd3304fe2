"""Studies: small declared experiments that submit ordinary runs and compare them."""

"""Electronic licences (电子证照): types, issuing, SM2 signatures, verification, reuse by ID number."""

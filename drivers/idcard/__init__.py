"""Second-generation resident ID card readers: the SAM serial protocol (GA/T 467), the card's text block, GB 11643."""

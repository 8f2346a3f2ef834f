"""The client portal: contacts log in, see their client's tickets, create and approve them."""

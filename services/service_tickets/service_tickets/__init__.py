"""service_tickets: consumers, registered products, repair tickets, work logs, spare
parts, stocks, parts orders, surveys."""

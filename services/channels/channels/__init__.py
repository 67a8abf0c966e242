"""channels: channel partners, tiers, credit, stores, inspection forms and lines, action plans."""

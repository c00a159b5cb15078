-- The hub's SKU and units: the gateway throttles by the quota table of that tier ('unlimited' by default).
ALTER TABLE registry.hubs ADD COLUMN sku_name text NOT NULL DEFAULT 'unlimited';
ALTER TABLE registry.hubs ADD COLUMN sku_units integer NOT NULL DEFAULT 1;

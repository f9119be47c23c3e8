-- A merchant's own wording of a message in one language (checked when saved); absent = the default template.
CREATE TABLE merchant_templates (
    merchant_id text        NOT NULL,
    message     text        NOT NULL,
    locale      text        NOT NULL CHECK (locale IN ('de', 'en')),
    subject     text        NOT NULL,
    text        text        NOT NULL,
    html        text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, message, locale)
);

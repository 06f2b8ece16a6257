-- Platform workers, establishment level: which SIRENE establishments the counting rule keeps,
-- and why the others are left out (METHODS 2; every choice is a parameter, defaults in
-- indicators/stages/plateformes.py).
--
-- Why one row per candidate with its first exclusion reason, rather than a filtered table: the
-- run report must say how many were left out and why, and a person must be able to review the
-- domiciliation addresses. Order of the reasons: closed, employer, not an individual
-- entrepreneur, abroad, domiciliation. Only establishments still in after the first four can be
-- domiciliations: an address with dozens of *active individual* riders is what gives one away.
CREATE OR REPLACE TABLE pf_candidats AS
WITH e AS (
    SELECT *,
        CASE WHEN activitePrincipaleEtablissement = $ape_livreurs THEN 'livreurs'
             WHEN activitePrincipaleEtablissement = $ape_vtc THEN 'vtc' END AS profession
    FROM raw_sirene_etablissements
    WHERE activitePrincipaleEtablissement IN ($ape_livreurs, $ape_vtc)
),
u AS (
    SELECT siren, any_value(categorieJuridiqueUniteLegale) AS categorie
    FROM raw_sirene_unites_legales GROUP BY siren
)
SELECT e.*, u.categorie,
    CASE
        WHEN coalesce(e.etatAdministratifEtablissement, '') <> 'A' THEN 'fermé'
        WHEN e.caractereEmployeurEtablissement = 'O' THEN 'employeur'
        WHEN u.categorie IS NULL THEN 'unité légale absente du stock'
        WHEN u.categorie <> $categorie THEN 'pas un entrepreneur individuel'
        WHEN nullif(trim(coalesce(e.codePaysEtrangerEtablissement, '')), '') IS NOT NULL
             OR nullif(trim(coalesce(e.codeCommuneEtablissement, '')), '') IS NULL THEN 'hors de France'
        WHEN e.dateCreationEtablissement > CAST($date_reference AS VARCHAR) THEN 'créé après la date de référence'
    END AS exclusion
FROM e LEFT JOIN u USING (siren);

-- Domiciliations: a named one (CCAS, domiciliation company, "chez"), or an address or a point
-- holding at least $seuil_domiciliation active individual businesses of these trades.
CREATE OR REPLACE TABLE pf_adresses AS
SELECT siret, codeCommuneEtablissement AS code_commune,
    CASE WHEN coalesce(libelleVoieEtablissement, '') IN ('', '[ND]') THEN NULL
         ELSE upper(trim(concat_ws(' ', numeroVoieEtablissement, typeVoieEtablissement, libelleVoieEtablissement)))
    END AS adresse,
    upper(concat_ws(' ', complementAdresseEtablissement, libelleVoieEtablissement, enseigne1Etablissement,
                    denominationUsuelleEtablissement)) AS libelles
FROM pf_candidats WHERE exclusion IS NULL;

CREATE OR REPLACE TABLE pf_domiciliations AS
WITH par_adresse AS (
    SELECT code_commune, adresse, count(*) AS n FROM pf_adresses WHERE adresse IS NOT NULL GROUP BY ALL
),
nommees AS (
    SELECT siret FROM pf_adresses
    WHERE regexp_matches(libelles, $motif_domiciliation)
)
SELECT a.siret, a.code_commune, a.adresse, coalesce(p.n, 1) AS n_a_l_adresse,
    CASE WHEN a.siret IN (SELECT siret FROM nommees) THEN 'adresse nommée (CCAS, domiciliation, chez…)'
         ELSE 'au moins ' || $seuil_domiciliation || ' entrepreneurs de ces métiers à l''adresse' END AS motif
FROM pf_adresses a
LEFT JOIN par_adresse p USING (code_commune, adresse)
WHERE a.siret IN (SELECT siret FROM nommees) OR p.n >= $seuil_domiciliation;

UPDATE pf_candidats SET exclusion = 'domiciliation'
WHERE exclusion IS NULL AND siret IN (SELECT siret FROM pf_domiciliations);
